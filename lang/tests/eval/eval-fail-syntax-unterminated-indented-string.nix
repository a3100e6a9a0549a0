''
  no end
