"""Tests of components/specs/ (the pure builders), and of the checkers the tests use."""
