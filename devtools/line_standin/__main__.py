"""python -m devtools.line_standin --port 8091"""
from .server import main

if __name__ == "__main__":
    main()
