"""How the comparison (bench/compare.py) drives, measures and reports each tool."""
