import sys

from circuitlab.bench import main

sys.exit(main())
