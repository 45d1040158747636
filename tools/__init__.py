"""Developer tools: the offline render and the benchmark."""
