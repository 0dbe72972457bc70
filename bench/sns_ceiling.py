"""The ceiling for the SNS benchmark: a minimal Flask app returning a short text, served with
the same gunicorn settings as the real site."""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello() -> str:
    return "Hello from the ceiling."
