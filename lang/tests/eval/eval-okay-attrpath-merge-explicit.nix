# An attrset literal and a path definition of the same attribute merge.
{
  a = { b = 1; };
  a.c = 2;
}
