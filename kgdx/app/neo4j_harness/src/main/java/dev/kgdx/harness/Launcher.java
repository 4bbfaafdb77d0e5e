package dev.kgdx.harness;

import java.io.IOException;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.SettingValueParsers;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.harness.Neo4j;
import org.neo4j.harness.Neo4jBuilder;
import org.neo4j.harness.Neo4jBuilders;
import org.neo4j.kernel.internal.Version;

/**
 * Serves a Neo4j 5.26 community database over Bolt from Neo4j's own test harness.
 *
 * <p>Usage: {@code java -Xmx2g -cp 'kgdx-neo4j-launcher.jar:lib/*' dev.kgdx.harness.Launcher
 * --port 7687 --dir DATA_DIR [--host 127.0.0.1] [--plugins DIR] [--pagecache 512m]
 * [--password-file FILE] [--tx-memory 512m] [--procedures 'apoc.text.*,...'] [--read-only true]}
 *
 * <p>Hardening (see docs/security.md): {@code LOAD CSV} may not read files ({@code
 * dbms.security.allow_csv_import_from_file_urls=false}) and its import folder is an empty {@code
 * DIR/import}; only the plugin procedures and functions named by {@code --procedures} are loaded
 * ({@code dbms.security.procedures.allowlist}); APOC's file import and export are off ({@code
 * DIR/conf/apoc.conf}); every transaction may use at most {@code --tx-memory} of heap ({@code
 * db.memory.transaction.max}), so no query can exhaust the server's heap. With {@code
 * --password-file}, auth is on and the user {@code neo4j} gets the password in that file (set
 * through the embedded API before Bolt is reported ready; the password never appears on a
 * command line). {@code --read-only true} makes every database read-only for every client.
 *
 * <p>The harness always runs in a fresh random folder under its working directory and deletes it on
 * close, so a plain harness forgets its data. The launcher points {@code neo4j_home} at {@code
 * --dir} instead, so the store ({@code DIR/data}) and debug log ({@code DIR/logs}) outlive restarts;
 * only the harness's scratch folder ({@code DIR/run/<md5>}, its user log) is deleted.
 *
 * <p>Prints one line {@code KGDX_NEO4J_READY bolt://HOST:PORT neo4j=VERSION apoc=N} once the
 * default database answers, and {@code KGDX_NEO4J_STOPPED} after a clean shutdown on SIGTERM.
 * Exits 1 with {@code KGDX_NEO4J_FAILED ...} if the database cannot start, 2 on bad arguments.
 */
public final class Launcher {
    private static final PrintStream OUT = System.out;

    private Launcher() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> opts;
        try {
            opts = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("KGDX_NEO4J_FAILED bad arguments: " + e.getMessage());
            System.err.println(
                    "usage: Launcher --port PORT --dir DATA_DIR [--host HOST] [--plugins DIR] [--pagecache SIZE]");
            System.exit(2);
            return;
        }
        String host = opts.getOrDefault("host", "127.0.0.1");
        int port = Integer.parseInt(opts.get("port"));
        Path dir = Paths.get(opts.get("dir")).toAbsolutePath().normalize();
        Path plugins = opts.containsKey("plugins")
                ? Paths.get(opts.get("plugins")).toAbsolutePath().normalize()
                : defaultPluginDir();
        long pagecache = SettingValueParsers.BYTES.parse(opts.getOrDefault("pagecache", "512m"));
        long txMemory = SettingValueParsers.BYTES.parse(opts.getOrDefault("tx-memory", "512m"));
        List<String> procedures = List.of(opts.getOrDefault("procedures", "apoc.version").split(","));
        boolean readOnly = Boolean.parseBoolean(opts.getOrDefault("read-only", "false"));
        String password = null;
        if (opts.containsKey("password-file")) {
            password = Files.readString(Paths.get(opts.get("password-file")), StandardCharsets.UTF_8).strip();
            if (password.length() < 8) {
                System.err.println("KGDX_NEO4J_FAILED the password file holds fewer than 8 characters");
                System.exit(2);
                return;
            }
        }

        Path runDir = dir.resolve("run");
        Files.createDirectories(runDir);
        deleteStaleScratch(runDir);
        // LOAD CSV's root: empty, and file URLs are refused anyway.
        Path importDir = dir.resolve("import");
        Files.createDirectories(importDir);
        Path confDir = dir.resolve("conf");
        Files.createDirectories(confDir);
        Files.writeString(
                confDir.resolve("apoc.conf"),
                "# written by the kgdx launcher on every start\n"
                        + "apoc.import.file.enabled=false\n"
                        + "apoc.import.file.use_neo4j_config=true\n"
                        + "apoc.export.file.enabled=false\n"
                        + "apoc.trigger.enabled=false\n",
                StandardCharsets.UTF_8);

        OUT.printf(
                "KGDX_NEO4J_STARTING neo4j=%s dir=%s bolt=%s:%d plugins=%s%n",
                Version.getNeo4jVersion(), dir, host, port, plugins);
        OUT.flush();

        Neo4jBuilder builder = Neo4jBuilders.newInProcessBuilder(runDir)
                .withDisabledServer() // no HTTP: Bolt is all kgdx needs
                .withConfig(GraphDatabaseSettings.neo4j_home, dir)
                .withConfig(BoltConnector.enabled, true)
                .withConfig(BoltConnector.listen_address, new SocketAddress(host, port))
                .withConfig(BoltConnector.advertised_address, new SocketAddress(host, port))
                .withConfig(GraphDatabaseSettings.pagecache_memory, pagecache)
                .withConfig(GraphDatabaseSettings.procedure_unrestricted, List.of())
                .withConfig(GraphDatabaseSettings.procedure_allowlist, procedures)
                .withConfig(GraphDatabaseSettings.allow_file_urls, false)
                .withConfig(GraphDatabaseSettings.load_csv_file_url_root, importDir)
                .withConfig(GraphDatabaseSettings.memory_transaction_max_size, txMemory)
                .withConfig(GraphDatabaseSettings.auth_enabled, password != null)
                .withConfig(GraphDatabaseSettings.read_only_database_default, readOnly)
                // The databases are checkpointed and closed before Bolt stops; waiting 2 x 5 s
                // (the defaults) for idle Bolt threads only makes `kgdx neo4j stop` slow.
                .withConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofSeconds(1))
                .withConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofSeconds(1));
        if (plugins != null && Files.isDirectory(plugins)) {
            builder = builder.withConfig(GraphDatabaseSettings.plugin_dir, plugins);
        }

        Neo4j neo4j;
        try {
            neo4j = builder.build();
        } catch (Throwable e) {
            System.err.println("KGDX_NEO4J_FAILED " + rootMessage(e));
            e.printStackTrace();
            System.exit(1);
            return;
        }

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            OUT.println("KGDX_NEO4J_STOPPING");
            OUT.flush();
            try {
                neo4j.close(); // checkpoints the store, then deletes only the run/<md5> scratch folder
                OUT.println("KGDX_NEO4J_STOPPED");
            } catch (Throwable e) {
                System.err.println("KGDX_NEO4J_STOP_FAILED " + rootMessage(e));
            }
            OUT.flush();
            stopped.countDown();
        }, "kgdx-neo4j-shutdown"));

        long apoc;
        try {
            if (password != null) {
                // The embedded API runs with full rights, so it can set the password that Bolt
                // clients must then give (Community has one kind of user: no roles).
                try {
                    neo4j.databaseManagementService()
                            .database("system")
                            .executeTransactionally(
                                    "ALTER USER neo4j SET PASSWORD $pw CHANGE NOT REQUIRED", Map.of("pw", password));
                } catch (RuntimeException e) {
                    // Neo4j refuses to "change" a password to the one it already has: that is fine.
                    if (!rootMessage(e).contains("cannot be the same")) {
                        throw e;
                    }
                }
            }
            neo4j.defaultDatabaseService().executeTransactionally("RETURN 1");
            apoc = neo4j.defaultDatabaseService()
                    .executeTransactionally(
                            "SHOW PROCEDURES YIELD name WHERE name STARTS WITH 'apoc.' RETURN count(*) AS n",
                            Map.of(),
                            r -> (Long) r.next().get("n"));
        } catch (Throwable e) {
            System.err.println("KGDX_NEO4J_FAILED " + rootMessage(e));
            e.printStackTrace();
            System.exit(1);
            return;
        }
        String uri = "bolt://" + host + ":" + port;
        OUT.printf(
                "KGDX_NEO4J_READY %s neo4j=%s apoc=%d auth=%s read_only=%s%n",
                uri, Version.getNeo4jVersion(), apoc, password != null, readOnly);
        OUT.flush();
        stopped.await();
    }

    private static Map<String, String> parse(String[] args) {
        java.util.HashMap<String, String> opts = new java.util.HashMap<>();
        List<String> known =
                List.of("port", "dir", "host", "plugins", "pagecache", "password-file", "tx-memory", "procedures", "read-only");
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument '" + a + "'");
            }
            String key = a.substring(2);
            String value;
            int eq = key.indexOf('=');
            if (eq >= 0) {
                value = key.substring(eq + 1);
                key = key.substring(0, eq);
            } else if (i + 1 < args.length) {
                value = args[++i];
            } else {
                throw new IllegalArgumentException("'--" + key + "' needs a value");
            }
            if (!known.contains(key)) {
                throw new IllegalArgumentException("unknown option '--" + key + "'");
            }
            opts.put(key, value);
        }
        if (!opts.containsKey("port") || !opts.containsKey("dir")) {
            throw new IllegalArgumentException("'--port' and '--dir' are required");
        }
        int port;
        try {
            port = Integer.parseInt(opts.get("port"));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'--port' must be an integer (got '" + opts.get("port") + "')");
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("'--port' must be in 1..65535 (got " + port + ")");
        }
        return opts;
    }

    /** The {@code plugins} folder next to the launcher jar ({@code target/plugins}), or null. */
    private static Path defaultPluginDir() {
        try {
            Path jar = Paths.get(
                    Launcher.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            return jar.getParent().resolve("plugins");
        } catch (URISyntaxException | RuntimeException e) {
            return null;
        }
    }

    /** Removes harness scratch folders left behind by a launcher that was killed (SIGKILL). */
    private static void deleteStaleScratch(Path runDir) throws IOException {
        try (Stream<Path> children = Files.list(runDir)) {
            for (Path child : (Iterable<Path>) children::iterator) {
                if (child.getFileName().toString().matches("[0-9a-f]{32}")) {
                    try (Stream<Path> tree = Files.walk(child)) {
                        tree.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                    }
                }
            }
        }
    }

    private static String rootMessage(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String msg = root.getMessage() == null ? root.getClass().getName() : root.getMessage();
        return msg.replaceAll("\\s+", " ").trim();
    }
}
