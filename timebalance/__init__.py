"""TimeBalance and friends: semi-supervised video action recognition as a file-based DAG."""

__version__ = "0.1.0"
