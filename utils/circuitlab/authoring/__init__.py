"""Authoring tools: build learner, solution and nbgrader notebooks from the chapter masters."""
