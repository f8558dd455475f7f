"""The ceiling for bench_http.py: a bare Flask app that parses the check's JSON and echoes it back,
served by the same gunicorn.conf.py as the service.

Run by bench_http.py (`gunicorn --config gunicorn.conf.py --pythonpath benchmarks echo_app:app`).
"""
from flask import Flask, request

app = Flask(__name__)
app.json.ensure_ascii = False
app.json.sort_keys = False


@app.post("/v1/checks")
def echo():
    return request.get_json()


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
