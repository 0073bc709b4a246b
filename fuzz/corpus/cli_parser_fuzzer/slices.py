import dask.array as da
a = da.ones((1000, 1000), chunks=(100, 100))
b = (a + a.T)[::2, 1:-1] ** 2
b.sum(axis=0).compute()
