"""The lab: a real-process copy of the guarded stack on loopback, with fault injection.

"The VM" is a set of real processes bound to 127.0.0.2 (redis-server, HTTP
health services, and on the default profile an engine stand-in on a unix
socket that moves at each boot); "the host agent" is one TCP forwarder process
per service, 127.0.0.1:PORT to 127.0.0.2:PORT, as Lima forwards guest ports;
"the worker" is an HTTP app on the host. Everything lives under one lab
directory with pid files, and is stopped by pid. What each profile imitates,
and what it lets Talon do: ``talon.lab.profiles`` and docs/lab-profiles.md.
"""
