"""edge_app: smart self-checkout edge vision for one lane."""

__version__ = "0.1.0"
