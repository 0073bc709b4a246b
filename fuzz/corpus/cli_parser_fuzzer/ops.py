a = da.linspace(0, 1, 11); a += 1
b = da.tensordot(da.ones((4, 3)), da.ones((3, 2)), axes=1) @ da.ones((2,))
c = inc(1); d = add(c, 2, key="x")
x[..., None, 0] <= y < z != 3
