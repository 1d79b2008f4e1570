"""Shared helpers of Pier's test suite: real daemons on temporary roots, locally made
images, and leak accounting."""
