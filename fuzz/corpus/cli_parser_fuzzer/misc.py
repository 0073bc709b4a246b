x = np.arange(10)
y = [i * 2 for i in range(5) if i % 2 == 0]
z = da.where(x > 3, x, -x); z.max(), z.argmin()
print('done', 1e-3, 0x1f, 10_000, not True and None)
