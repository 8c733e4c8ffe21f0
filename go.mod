module hull

go 1.26.8
