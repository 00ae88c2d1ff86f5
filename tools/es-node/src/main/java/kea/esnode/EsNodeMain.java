package kea.esnode;

import org.elasticsearch.Build;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.node.EmbeddedNode;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Starts a single-node Elasticsearch and blocks until the JVM is asked to stop (SIGTERM/SIGINT).
 *
 * <pre>
 * usage: EsNodeMain HTTP_PORT HOME_DIR [setting=value ...]
 * </pre>
 * HOME_DIR gets data/, logs/ and config/ (created if missing); reusing it keeps the indices.
 * Extra {@code setting=value} arguments override the defaults below (e.g. {@code transport.port=9301}).
 * On success one line {@code es-node started http=HOST:PORT version=X} is printed to stdout.
 */
public final class EsNodeMain {

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: EsNodeMain HTTP_PORT HOME_DIR [setting=value ...]");
            System.exit(2);
        }
        Path home = Path.of(args[1]).toAbsolutePath();
        for (String dir : List.of("config", "data", "logs")) {
            Files.createDirectories(home.resolve(dir));
        }

        // the ES logging facade (org.elasticsearch.logging) must be bound to log4j before any ES class logs;
        // log4j itself picks up log4j2.properties from the classpath
        LogConfigurator.configureESLogging();

        Settings.Builder settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("node.name", "kea-es")
            .put("cluster.name", "kea-test")
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", args[0])
            .put("transport.port", "0") // only the node itself uses it: any free port
            // test machines may have full-ish disks; don't turn indices read-only
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            // lets test cleanup delete "prefix-*"
            .put("action.destructive_requires_name", false);
        for (int i = 2; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("expected setting=value, got " + args[i]);
            }
            settings.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }

        Node node;
        try {
            Environment env = InternalSettingsPreparer.prepareEnvironment(settings.build(), Map.of(), null, () -> "kea-es");
            node = new EmbeddedNode(env, List.of(Netty4Plugin.class, RootInfoPlugin.class));
        } catch (Throwable t) {
            // e.g. data dir locked by another node, bad setting: fail fast instead of lingering on non-daemon threads
            t.printStackTrace();
            System.exit(1);
            return;
        }

        CountDownLatch closed = new CountDownLatch(1);
        // SIGTERM/SIGINT/System.exit run shutdown hooks: close the node cleanly (flush, release the data dir lock)
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.prepareForClose();
                node.close();
                node.awaitClose(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                System.out.println("es-node stopped");
                System.out.flush();
                closed.countDown();
            }
        }, "es-node-shutdown"));

        try {
            node.start();
        } catch (Throwable t) {
            t.printStackTrace();
            System.exit(1);
        }
        var http = node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress();
        System.out.println("es-node started http=" + http + " version=" + Build.current().version());
        System.out.flush();
        closed.await();
    }
}
