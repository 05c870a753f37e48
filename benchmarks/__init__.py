"""Scripts that print measured figures. Run them from the repository root as modules, e.g.
``python -m benchmarks.load_run``, so that ``explorer`` and ``benchmarks`` import as packages."""
