// Filled in by the consume-path tests of issue #3 (placeholder so the build stays whole).
