"""``python -m sef_workflow.cli``: the ``sef`` command."""

from . import main

if __name__ == "__main__":  # pragma: no cover
    main()
