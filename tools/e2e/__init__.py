"""The real engine and a local control plane, built from pinned Go modules, for `make e2e`."""
