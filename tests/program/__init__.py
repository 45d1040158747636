"""Tests of the whole program under mocks: __main__, the render, schemas, invariants on every stack."""
