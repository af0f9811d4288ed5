"""Reports: the figures that answer the four questions, and their renderings.

``figures`` builds the report for a period (:func:`~.figures.build_report`) from the
sections' modules: ``how_much``, ``how_well``, ``learning``, ``better_off`` and
``section11``, over the period, context and shared query shapes of ``counting`` and the
Section 11 cycles of ``cycles``. ``model`` holds the report as plain data (sections, tables,
charts); ``svg`` draws a table's chart as accessible SVG; ``export`` turns a report into
CSV, an XLSX workbook and the printable annual report data pack.
"""
