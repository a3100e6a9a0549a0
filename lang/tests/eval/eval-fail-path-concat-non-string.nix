./data + 1
