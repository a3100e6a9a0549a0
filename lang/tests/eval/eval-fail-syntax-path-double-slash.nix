./data//hello.txt
