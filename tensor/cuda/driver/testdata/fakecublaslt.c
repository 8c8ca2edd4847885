// A fake libcublasLt.so.13: the real libcublas.so.13 needs its Lt beside
// it; this stands in for that dependency (fakecublas.c -DFAKE_NEEDS_LT).
int fake_lt_version(void) { return 13; }
