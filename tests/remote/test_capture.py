"""Per-request output capture: concurrent handlers each keep their own printed lines."""
import sys
import threading

from mlrun.adapters.capture import capture_output


def test_concurrent_threads_capture_only_their_own_output(capsys):
    barrier = threading.Barrier(4)
    logs = {}

    def work(n: int) -> None:
        with capture_output() as out:
            for step in range(50):
                print(f"worker {n} step {step}")
                if step == 25:
                    barrier.wait()  # all four are printing at the same time here
                sys.stderr.write(f"worker {n} err {step}\n")
        logs[n] = out.getvalue()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n, log in logs.items():
        lines = log.splitlines()
        assert len(lines) == 100
        assert all(line.startswith(f"worker {n} ") for line in lines)
    assert "worker" not in capsys.readouterr().out


def test_output_outside_a_capture_reaches_the_real_stream_and_captures_nest(capsys):
    with capture_output() as outer:
        print("outer line")
        with capture_output() as inner:
            print("inner line")
        print("outer again")
    print("not captured")
    assert inner.getvalue() == "inner line\n"
    assert outer.getvalue() == "outer line\nouter again\n"
    assert capsys.readouterr().out == "not captured\n"
