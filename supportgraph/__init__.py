"""supportgraph: a multi-agent customer support framework."""

__version__ = "0.1.0"
