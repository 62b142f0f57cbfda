import sys

try:
    from masterbuild.cli import main

    code = main()
except KeyboardInterrupt:  # Ctrl-C while still starting up: no traceback either
    print("masterbuild: interrupted", file=sys.stderr)
    code = 130
sys.exit(code)
