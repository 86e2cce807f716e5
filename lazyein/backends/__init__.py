"""Where a plan runs besides numpy's own loop: `lazyein.backends.dask` (optional import)."""
