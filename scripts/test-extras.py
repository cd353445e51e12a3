"""Print the extras the test suites install: all of setup.py's but docs and dev.

Read from setup.py's source, so the lists stay right as extras are added.
Usage: python scripts/test-extras.py [SEPARATOR]  (default ",")
"""

import ast
import sys

with open("setup.py", encoding="utf-8") as f:
    setup = ast.parse(f.read())
for node in ast.walk(setup):
    if isinstance(node, ast.keyword) and node.arg == "extras_require":
        assert isinstance(node.value, ast.Dict)
        names = [ast.literal_eval(key) for key in node.value.keys if key is not None]
        print(
            (sys.argv[1] if len(sys.argv) > 1 else ",").join(
                name for name in names if name not in ("docs", "dev")
            )
        )
