"""The batch: every core folder in processes or on Dask, resumable, with its manifest and the well's steps."""
