"""The lab's ``linux`` profile: the real platforms of a Linux box, not imitations of them.

``box`` (the profile: up, down, faults, Talon's config), ``dockerd`` (Debian's
real engine alone in its namespaces), ``usermanager`` (a real ``systemd
--user``), ``containers`` (the services as that engine's containers), ``run``
(``talon run`` as a unit of that manager). These modules drive the real tools
by name, which is why they live apart from the rest of the lab
(tests/test_platform_names.py exempts this folder).
"""
