"""``llem report`` and ``llem results``: figures, an offline HTML page, listing,
comparison and export of finished (or unfinished) studies.

Reads result files only (study.json, experiments/*/result.json, the Parquet sidecars,
manifest.json as plain JSON) through llem.results and llem.analysis; never imports
llem.run, llem.measure or a backend. matplotlib and datasets come with the optional
extra ``llem-core[report]`` and are imported inside the functions that draw or export.
"""
