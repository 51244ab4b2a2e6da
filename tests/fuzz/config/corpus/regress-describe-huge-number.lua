workers = 1e100
