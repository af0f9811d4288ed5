"""Reports: the figures that answer the four questions, and their renderings.

``model`` holds the report as plain data (sections, tables, charts); ``svg`` draws a table's
chart as accessible SVG; ``export`` turns a report into CSV, an XLSX workbook and the
printable annual report data pack.
"""
