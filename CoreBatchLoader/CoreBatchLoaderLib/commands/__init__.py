"""The ``corebatchloader`` command's sub-commands beyond ``convert``, one module each exposing
``add_parser(subparsers)`` and ``run(args) -> int``; :mod:`..cli` registers them."""
