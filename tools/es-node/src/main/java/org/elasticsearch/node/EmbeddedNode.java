package org.elasticsearch.node;

import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.ClasspathPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsService;

import java.util.List;

/**
 * A {@link Node} whose plugins come from the classpath instead of the distribution's modules/ directory.
 *
 * <p>In package {@code org.elasticsearch.node} because the {@code Node(NodeConstruction)} constructor,
 * {@code NodeConstruction.prepareConstruction} and {@code NodeServiceProvider} are package-private (8.11+).
 */
public class EmbeddedNode extends Node {

    public EmbeddedNode(Environment environment, List<Class<? extends Plugin>> plugins) {
        super(NodeConstruction.prepareConstruction(environment, new ClasspathServiceProvider(plugins), true));
    }

    private static final class ClasspathServiceProvider extends NodeServiceProvider {
        private final List<Class<? extends Plugin>> plugins;

        ClasspathServiceProvider(List<Class<? extends Plugin>> plugins) {
            this.plugins = plugins;
        }

        @Override
        PluginsService newPluginService(Environment environment, Settings settings) {
            return new ClasspathPluginsService(settings, environment.configFile(), plugins);
        }
    }
}
