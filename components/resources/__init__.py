"""ComponentResources: the objects each part of the stack creates, from specs and generated secrets."""
