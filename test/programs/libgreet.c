// A library the dlopen victim loads after start: a uprobe on greet() must attach when it appears.
__attribute__((noinline)) int greet(int n)
{
	__asm__ volatile("" ::: "memory");
	return n + 1;
}
