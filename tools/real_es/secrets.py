"""A render whose generated secrets are real: what `pulumi up` would put in the Secrets.

The offline render writes stand-ins (`mock-password-...`, `mock-certificate-...`) that no
node can start with or log anyone in with. Here the mocks answer each dynamic resource the
way its provider does on `pulumi up`: by calling that provider's own `create` on the
resource's resolved inputs. So the passwords, bcrypt hashes, CA and per-node certificates
are made by the same code a deploy runs, and the Secrets that hold them are the program's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pulumi.dynamic import ResourceProvider
from pulumi.runtime.mocks import MockResourceArgs

from components import generated
from tools.render import PROJECT_DIR, EchoMocks, Rendered, _plain, run_program

# Each dynamic resource type of the program, and the provider that `pulumi up` runs for it.
PROVIDERS: dict[str, type[ResourceProvider]] = {
    f"pulumi-python:dynamic/{generated.MODULE}:{name}": provider
    for name, provider in (
        ("GeneratedPassword", generated.PasswordProvider),
        ("PasswordHash", generated.PasswordHashProvider),
        ("CertificateAuthority", generated.CertificateAuthorityProvider),
        ("LeafCertificate", generated.LeafCertificateProvider),
    )
}


State = dict[str, tuple[str, dict[str, Any]]]
"""A stack's generated resources by name: their id and outputs, as Pulumi's state keeps them."""


class GeneratingMocks(EchoMocks):
    """Kubernetes objects echo their inputs; generated secrets come from their real providers.

    With the `state` of an earlier render, a resource whose provider finds no difference
    keeps its outputs, as `pulumi up` keeps them: a second render of the same stack (a new
    version, say) has the same passwords, CA and certificates.
    """

    def __init__(self, state: State | None = None) -> None:
        self.state: State = {} if state is None else state

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        """A generated resource's real outputs; any other resource's inputs."""
        provider_class = PROVIDERS.get(args.typ)
        if provider_class is None:
            return super().new_resource(args)
        provider = provider_class()
        inputs = _plain(dict(args.inputs), show_secrets=True)
        stored = self.state.get(args.name)
        if stored is not None and not provider.diff(stored[0], stored[1], inputs).changes:
            return stored
        created = provider.create(inputs)
        self.state[args.name] = (created.id, dict(created.outs or {}))
        return self.state[args.name]


def render_with_secrets(
    config: dict[str, str], stack: str, state: State | None = None, project_dir: Path = PROJECT_DIR
) -> Rendered:
    """Run the program with real generated secrets (kept from `state`), every Secret value shown."""
    mocks = GeneratingMocks(state)
    return run_program(config, stack=stack, project_dir=project_dir, show_secrets=True, mocks=mocks)
