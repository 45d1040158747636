"""Where stacks created before the reshape find their cluster-formation provider.

Pulumi pickles a dynamic provider by reference (module path and class name) into the state
of each resource it manages. Every stack deployed before the code moved into layer folders
names `components.elasticsearch_cluster.FormationProvider`, and its `refresh`, `destroy` and
diffs unpickle that name. Keep this module as long as such stacks may exist. The provider
itself lives in components/generated/formation.py.
"""

from components.generated.formation import FormationProvider

__all__ = ["FormationProvider"]
