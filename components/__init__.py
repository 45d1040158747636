"""elk-stack components: config models, shared builders and one ComponentResource per file."""
