"""Owns the sample Alpaca credentials for the local stand-ins (alpaca_server.py): not real keys.

The stand-in takes any non-empty key pair unless it is started with expected ones; `demo`, `ui`,
the benchmarks and the drills send this one pair, by its environment names or its values.
"""

SAMPLE_KEY_ID, SAMPLE_SECRET_KEY = "sample-key-id", "sample-secret"
#: The environment alpaca-py and AlpacaResource read the pair from.
SAMPLE_ALPACA_KEYS = {"ALPACA_API_KEY_ID": SAMPLE_KEY_ID, "ALPACA_API_SECRET_KEY": SAMPLE_SECRET_KEY}
