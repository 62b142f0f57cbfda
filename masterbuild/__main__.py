import sys

from masterbuild.cli import main

sys.exit(main())
