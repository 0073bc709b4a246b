x = da.random.random((50000, 50000)); da.exp(x).mean()
