abort "stop right here"
