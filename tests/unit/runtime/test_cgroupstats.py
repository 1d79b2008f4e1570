"""cgroup stats parsing on file trees that mirror a host's cgroup files.

The v2 file formats are those of the kernel's Documentation/admin-guide/cgroup-v2.rst
(flat keyed memory.stat, cpu.stat, memory.events; nested keyed io.stat; "max" for no
limit); v1's are those of cgroup-v1/{memory,cpuacct,blkio-controller,pids}.rst. The
real v1 files of a running container are read in tests/conformance/runtime.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pier.runtime.cgroupstats import (
    BlkioEntry,
    HostUsage,
    parse_meminfo_total,
    parse_proc_cgroup,
    parse_proc_stat,
    read_v1,
    read_v2,
)

GIB = 1 << 30
HOST = HostUsage(system_cpu_ns=5_000_000_000, online_cpus=4, machine_memory=8 * GIB)

PROC_STAT = """\
cpu  10132153 290696 3084719 46828483 16683 0 25195 0 175628 0
cpu0 1393280 32966 572056 13343292 6130 0 17875 0 23933 0
cpu1 1335030 30943 408226 13578366 5384 0 2934 0 26221 0
intr 1462898 0 0 0
ctxt 1990473
"""


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def v2_tree(root: Path, **overrides: str) -> Path:
    files = {
        "memory.current": "23674880\n",
        "memory.max": "max\n",
        "memory.stat": (
            "anon 8523776\nfile 13369344\nkernel 1015808\nkernel_stack 49152\n"
            "pagetables 155648\nsock 0\nshmem 0\nfile_mapped 8110080\nfile_dirty 0\n"
            "file_writeback 0\nanon_thp 0\ninactive_anon 8470528\nactive_anon 53248\n"
            "inactive_file 9826304\nactive_file 3543040\nunevictable 0\n"
            "slab_reclaimable 479864\nslab_unreclaimable 218600\nslab 698464\n"
            "workingset_refault_anon 0\nworkingset_refault_file 0\npgfault 9983\n"
            "pgmajfault 99\npgrefill 0\npgscan 0\npgsteal 0\npgactivate 865\n"
            "pgdeactivate 0\npglazyfree 0\npglazyfreed 0\nthp_fault_alloc 0\n"
            "thp_collapse_alloc 0\n"
        ),
        "memory.events": "low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\noom_group_kill 0\n",
        "cpu.stat": (
            "usage_usec 1837462\nuser_usec 1234567\nsystem_usec 602895\n"
            "nr_periods 40\nnr_throttled 3\nthrottled_usec 15000\n"
            "nr_bursts 0\nburst_usec 0\n"
        ),
        "pids.current": "7\n",
        "pids.max": "max\n",
        "io.stat": (
            "8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n"
            "8:0 rbytes=90430464 wbytes=299008000 rios=8950 wios=1252 dbytes=50331648 dios=3021\n"
        ),
    }
    files.update({k.replace("_", "."): v for k, v in overrides.items()})
    return write_tree(root, files)


def test_proc_stat_is_dockers_system_usage() -> None:
    system, online = parse_proc_stat(PROC_STAT)
    ticks = 10132153 + 290696 + 3084719 + 46828483 + 16683 + 0 + 25195
    assert system == ticks * 10_000_000  # dockerd: ticks * 1e9 / 100
    assert online == 2


def test_meminfo_total() -> None:
    assert parse_meminfo_total("MemTotal:       16314836 kB\nMemFree: 1 kB\n") == 16314836 * 1024
    assert parse_meminfo_total("") == 0


def test_proc_cgroup_v1_hybrid_and_v2() -> None:
    hybrid = "12:cpu,cpuacct:/pier/abc\n4:memory:/pier/abc\n1:name=systemd:/x\n0::/pier/abc\n"
    paths = parse_proc_cgroup(hybrid)
    assert paths["cpu"] == paths["cpuacct"] == paths["memory"] == "/pier/abc"
    assert paths["name=systemd"] == "/x"
    assert paths[""] == "/pier/abc"
    assert parse_proc_cgroup("0::/system.slice/pier-abc.scope\n") == {
        "": "/system.slice/pier-abc.scope"
    }


def test_v2_as_docker_reports_it(tmp_path: Path) -> None:
    stats = read_v2(v2_tree(tmp_path), HOST)
    assert stats.cgroup_version == 2
    cpu = stats.cpu
    assert (cpu.total_ns, cpu.user_ns, cpu.kernel_ns) == (1837462000, 1234567000, 602895000)
    assert cpu.per_cpu_ns == ()  # v2 has no per-cpu usage
    assert (cpu.system_ns, cpu.online_cpus) == (HOST.system_cpu_ns, 4)
    assert (cpu.periods, cpu.throttled_periods, cpu.throttled_ns) == (40, 3, 15_000_000)
    mem = stats.memory
    assert mem.usage == 23674880
    assert mem.limit == 8 * GIB  # "max": the machine's memory, as dockerd
    assert mem.max_usage is None
    assert mem.failcnt == 2  # memory.events' oom
    assert mem.stats["inactive_file"] == 9826304
    assert mem.stats["anon"] == 8523776
    assert mem.stats["workingset_refault"] == 0  # asked for by dockerd, absent here
    assert "kernel" not in mem.stats and "pagetables" not in mem.stats
    assert (stats.pids.current, stats.pids.limit) == (7, None)
    assert stats.io_service_bytes == (
        BlkioEntry(major=8, minor=16, op="read", value=1459200),
        BlkioEntry(major=8, minor=16, op="write", value=314773504),
        BlkioEntry(major=8, minor=0, op="read", value=90430464),
        BlkioEntry(major=8, minor=0, op="write", value=299008000),
    )


def test_v2_with_limits(tmp_path: Path) -> None:
    tree = v2_tree(tmp_path, memory_max="67108864\n", pids_max="64\n")
    stats = read_v2(tree, HOST)
    assert stats.memory.limit == 64 << 20
    assert stats.pids.limit == 64


def test_v2_controllers_not_enabled(tmp_path: Path) -> None:
    # A cgroup whose parent did not enable io and pids: those files do not exist.
    tree = v2_tree(tmp_path)
    for name in ("io.stat", "pids.current", "pids.max", "memory.events"):
        (tree / name).unlink()
    stats = read_v2(tree, HOST)
    assert stats.io_service_bytes == ()
    assert (stats.pids.current, stats.pids.limit) == (0, None)
    assert stats.memory.failcnt is None


@pytest.fixture
def v1_dirs(tmp_path: Path) -> dict[str, Path]:
    memory = write_tree(
        tmp_path / "memory" / "pier" / "c1",
        {
            "memory.usage_in_bytes": "4096000\n",
            "memory.max_usage_in_bytes": "8192000\n",
            "memory.limit_in_bytes": "9223372036854771712\n",
            "memory.failcnt": "0\n",
            "memory.stat": (
                "cache 1000\nrss 2000\nrss_huge 0\nshmem 0\nmapped_file 300\ndirty 0\n"
                "writeback 0\npgpgin 50\npgpgout 10\npgfault 400\npgmajfault 1\n"
                "inactive_anon 0\nactive_anon 2000\ninactive_file 700\nactive_file 300\n"
                "unevictable 0\nhierarchical_memory_limit 9223372036854771712\n"
                "hierarchical_memsw_limit 9223372036854771712\ntotal_cache 1000\n"
                "total_rss 2000\ntotal_inactive_file 700\n"
            ),
        },
    )
    cpuacct = write_tree(
        tmp_path / "cpuacct" / "pier" / "c1",
        {
            "cpuacct.usage": "150000000\n",
            "cpuacct.usage_percpu": "100000000 50000000 \n",
            "cpuacct.stat": "user 10\nsystem 5\n",
        },
    )
    cpu = write_tree(
        tmp_path / "cpu" / "pier" / "c1",
        {"cpu.stat": "nr_periods 12\nnr_throttled 2\nthrottled_time 3000000\n"},
    )
    pids = write_tree(
        tmp_path / "pids" / "pier" / "c1", {"pids.current": "2\n", "pids.max": "max\n"}
    )
    blkio = write_tree(
        tmp_path / "blkio" / "pier" / "c1",
        {
            "blkio.throttle.io_service_bytes_recursive": (
                "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n"
                "8:0 Discard 0\n8:0 Total 12288\nTotal 12288\n"
            )
        },
    )
    return {"memory": memory, "cpuacct": cpuacct, "cpu": cpu, "pids": pids, "blkio": blkio}


def test_v1_as_docker_reports_it(v1_dirs: dict[str, Path]) -> None:
    stats = read_v1(v1_dirs, HOST)
    assert stats.cgroup_version == 1
    cpu = stats.cpu
    assert cpu.total_ns == 150_000_000
    assert cpu.per_cpu_ns == (100_000_000, 50_000_000)
    assert (cpu.user_ns, cpu.kernel_ns) == (100_000_000, 50_000_000)  # ticks at 100 Hz
    assert (cpu.periods, cpu.throttled_periods, cpu.throttled_ns) == (12, 2, 3_000_000)
    mem = stats.memory
    assert (mem.usage, mem.max_usage, mem.failcnt) == (4096000, 8192000, 0)
    assert mem.limit == 8 * GIB  # the page-rounded "no limit" capped to the machine's
    assert mem.stats["cache"] == 1000 and mem.stats["total_inactive_file"] == 700
    assert mem.stats["total_unevictable"] == 0  # every key dockerd sends is there
    assert "shmem" not in mem.stats  # dockerd does not pass it on
    assert (stats.pids.current, stats.pids.limit) == (2, None)
    ops = [(e.op, e.value) for e in stats.io_service_bytes]
    assert ops == [
        ("Read", 4096),
        ("Write", 8192),
        ("Sync", 0),
        ("Async", 12288),
        ("Discard", 0),
        ("Total", 12288),
    ]


def test_v1_prefers_cfq_files_when_present(v1_dirs: dict[str, Path]) -> None:
    blkio = v1_dirs["blkio"]
    (blkio / "blkio.io_serviced_recursive").write_text("8:0 Read 1\nTotal 1\n")
    (blkio / "blkio.io_service_bytes_recursive").write_text("8:0 Read 512\nTotal 512\n")
    stats = read_v1(v1_dirs, HOST)
    assert stats.io_service_bytes == (BlkioEntry(major=8, minor=0, op="Read", value=512),)


def test_v1_limits_and_missing_controllers(v1_dirs: dict[str, Path]) -> None:
    (v1_dirs["memory"] / "memory.limit_in_bytes").write_text("67108864\n")
    (v1_dirs["pids"] / "pids.max").write_text("100\n")
    stats = read_v1(v1_dirs, HOST)
    assert (stats.memory.limit, stats.pids.limit) == (64 << 20, 100)
    bare = read_v1({"memory": v1_dirs["memory"]}, HOST)
    assert bare.cpu.total_ns == 0 and bare.io_service_bytes == ()
    assert bare.memory.usage == 4096000
