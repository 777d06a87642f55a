"""The peer: dlt's sql_database source moving the totesys tables to local Parquet.

    python dlt_extract.py URL OUT_DIR BACKEND TABLE[,TABLE...]

Prints one JSON line: seconds for pipeline.run (extract + normalize + load to Parquet files),
excluding interpreter start and imports, and the row counts dlt reports.
"""
import json
import sys
import time

t_import = time.perf_counter()
import dlt  # noqa: E402
from dlt.sources.sql_database import sql_database  # noqa: E402

url, out_dir, backend, tables = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
import_s = time.perf_counter() - t_import

source = sql_database(credentials=url, schema="public", table_names=tables, backend=backend, chunk_size=100_000)
pipeline = dlt.pipeline(
    pipeline_name="totes_bench",
    pipelines_dir=f"{out_dir}/.dlt",
    destination=dlt.destinations.filesystem(bucket_url=f"file://{out_dir}/parquet"),
    dataset_name="totesys",
)
t0 = time.perf_counter()
info = pipeline.run(source, loader_file_format="parquet")
run_s = time.perf_counter() - t0
rows = {}
trace = pipeline.last_trace
try:
    rows = dict(trace.last_normalize_info.row_counts)
except Exception:  # the shape of the trace varies between dlt versions
    pass
steps = {}
try:
    for step in trace.steps:
        steps[step.step] = (step.finished_at - step.started_at).total_seconds()
except Exception:
    pass
print(json.dumps({"run_s": run_s, "import_s": import_s, "rows": rows, "steps": steps, "dlt": dlt.__version__, "backend": backend}))
