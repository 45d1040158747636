"""The real-Elasticsearch tier: start real nodes from the program's render and run its scripts.

Every other check runs against something we wrote (Pulumi mocks, the fake Elasticsearch,
kwok's pods that never run). Here the files a rendered pod mounts, its environment and its
command start a real Elasticsearch from Elastic's test distribution on Maven Central, and
the stack's own scripts and users run against it. `make test-real` runs tests/real/.

- `distribution`: fetch, unpack and cache a version; find a JDK 21+.
- `secrets`: a render with real generated values (the program's own generators).
- `pods`: what one container of a rendered pod needs: files, environment, command, user.
- `network`: the one place where cluster addresses become loopback addresses.
- `runner`: run a container outside Kubernetes, in a private mount namespace as its user.
- `client`: HTTPS to a node by its cluster name, the certificate checked against that name.
"""
