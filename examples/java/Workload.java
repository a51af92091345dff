// A deterministic Java victim for bcc's Java USDT tools (ucalls, uflow, uobjnew, uthreads,
// javagc-bpfcc). Run it with -XX:+ExtendedDTraceProbes (HotSpot then fires method__entry/return,
// object__alloc and the thread probes of libjvm.so) and -Xint (no JIT: every call is a call).
// It prints "ready pid=N", then reads commands on stdin and answers each with "done <command>":
//   calls N      N calls of Workload.outer, each calling Workload.inner once
//   alloc N      N new Workload$Item objects, kept alive until the command ends
//   thread NAME  starts a thread named NAME and waits for it to end
//   gc N         N System.gc() calls
public class Workload {
  static final class Item {
    final int value;
    Item(int value) { this.value = value; }
  }

  /** A named class, not a lambda: its name is the same in every run. */
  static final class Worker implements Runnable {
    public void run() { inner(0); }
  }

  static int inner(int x) { return x + 1; }

  static int outer(int x) { return inner(x) * 2; }

  static void run(String cmd, String arg) throws InterruptedException {
    switch (cmd) {
      case "calls": {
        int sum = 0;
        for (int i = 0, n = Integer.parseInt(arg); i < n; i++) sum += outer(i);
        if (sum < 0) System.out.println(sum); // keeps the calls
        break;
      }
      case "alloc": {
        Item[] kept = new Item[Integer.parseInt(arg)];
        for (int i = 0; i < kept.length; i++) kept[i] = new Item(i);
        break;
      }
      case "thread": {
        Thread t = new Thread(new Worker(), arg);
        t.start();
        t.join();
        break;
      }
      case "gc":
        for (int i = 0, n = Integer.parseInt(arg); i < n; i++) System.gc();
        break;
      default:
        System.out.println("unknown command " + cmd);
    }
  }

  public static void main(String[] args) throws Exception {
    System.out.println("ready pid=" + ProcessHandle.current().pid());
    java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in));
    for (String line; (line = in.readLine()) != null; ) {
      String[] w = line.trim().split("\\s+", 2);
      run(w[0], w.length > 1 ? w[1] : "");
      System.out.println("done " + line.trim());
    }
  }
}
